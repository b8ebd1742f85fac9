# SPDX-License-Identifier: MIT
#
# Generates practice-log.csv: eight weeks of music practice by 40 invented
# students. Everything here is made up by a random number generator with a
# fixed seed; no row describes a real person. Student ids (S001..S040) are
# pseudonyms of nobody.
#
# Regenerate (from anywhere):  Rscript examples/practice/generate-data.R
# The output is byte-for-byte the same on every run and R version >= 3.6.

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
set.seed(20240905)

n_students <- 40
n_weeks <- 8
instruments <- c("cello", "flute", "guitar", "piano", "violin")

# Each student plays one instrument (8 per instrument, shuffled), has a
# habitual amount of practice and a trend over the term.
instrument <- sample(rep(instruments, length.out = n_students))
habit <- round(rnorm(n_students, mean = 150, sd = 45))
habit <- pmax(habit, 40)
trend <- rnorm(n_students, mean = 4, sd = 6)
# Pianists and violinists in this invented school are asked to practise more.
habit <- habit + ifelse(instrument %in% c("piano", "violin"), 30, 0)

rows <- vector("list", n_students * n_weeks)
k <- 0
for (s in seq_len(n_students)) {
  for (w in seq_len(n_weeks)) {
    k <- k + 1
    minutes <- round(habit[s] + trend[s] * (w - 1) + rnorm(1, sd = 25))
    # An exam week (week 6) with less practice for everyone.
    if (w == 6) minutes <- round(minutes * 0.7)
    minutes <- max(minutes, 0)
    pieces <- rpois(1, lambda = minutes / 90)
    rating <- round(1.2 + minutes / 80 + rnorm(1, sd = 0.6))
    rating <- min(max(rating, 1), 5)
    rows[[k]] <- data.frame(
      student_id = sprintf("S%03d", s),
      instrument = instrument[s],
      week = w,
      minutes_practiced = as.integer(minutes),
      pieces_completed = as.integer(pieces),
      teacher_rating = as.integer(rating)
    )
  }
}
log <- do.call(rbind, rows)

out <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(out)) {
  # Next to this script.
  file_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
  here <- if (length(file_arg)) dirname(sub("^--file=", "", file_arg[1])) else "."
  out <- file.path(here, "practice-log.csv")
}
write.csv(log, out, row.names = FALSE, quote = FALSE, eol = "\n")
cat(sprintf("wrote %s: %d rows, %d students, %d weeks\n",
            out, nrow(log), length(unique(log$student_id)), n_weeks))
