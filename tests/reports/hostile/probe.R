# SPDX-License-Identifier: MIT
#
# Shared by the hostile reports (tests/reports/hostile/*.Rmd): each probe
# tries one thing and prints one line the test reads back from the HTML:
#
#   CHECK <id>: blocked -- <why>      the attempt failed (what we want)
#   CHECK <id>: ESCAPED -- <what>     the attempt worked: a hole
#   CHECK <id>: allowed -- <what>     a control that must work (/tmp, /out...)
#   CHECK <id>: BROKEN -- <why>       a control that failed: the probes prove nothing
#   CHECK <id>: skipped -- <why>      nothing to try (e.g. no host address given)
#
# A probe's expression returns a short description when the attempt worked
# and signals an error when it failed. The test plants targets.txt next to
# the report (key=value lines): the host paths and ports to aim at.

targets <- list(nonce = "nononce", listen_port = "", host_ip = "", internet = "1",
                canary = "", canary_etc = "", host_dir = "")
if (file.exists("targets.txt")) {
  for (line in readLines("targets.txt", warn = FALSE)) {
    if (!grepl("=", line, fixed = TRUE)) next
    targets[[sub("=.*", "", line)]] <- sub("^[^=]*=", "", line)
  }
}
options(timeout = 10, warn = 1)

one_line <- function(x, max = 240) {
  x <- gsub("[[:space:]]+", " ", paste(x, collapse = " "))
  if (nchar(x) > max) paste0(substr(x, 1, max), "...") else x
}

probe <- function(id, expr, control = FALSE, skip = NULL) {
  if (!is.null(skip)) {
    cat(sprintf("CHECK %s: skipped -- %s\n", id, skip))
    return(invisible("skipped"))
  }
  warnings <- character()
  res <- withCallingHandlers(
    tryCatch(list(ok = TRUE, detail = as.character(expr)),
             error = function(e) list(ok = FALSE, detail = conditionMessage(e))),
    warning = function(w) {
      warnings <<- c(warnings, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  why <- one_line(c(res$detail, if (length(warnings)) paste0("[", warnings, "]")))
  outcome <- if (res$ok) (if (control) "allowed" else "ESCAPED") else
    (if (control) "BROKEN" else "blocked")
  cat(sprintf("CHECK %s: %s -- %s\n", id, outcome, why))
  invisible(outcome)
}

# Fails unless the file could be created and written.
try_write <- function(path) {
  con <- file(path, open = "w")
  on.exit(close(con))
  writeLines(sprintf("cordon hostile test %s", targets$nonce), con)
  sprintf("wrote %s", path)
}

# Fails unless the file could be read; returns (and so shows) its content.
try_read <- function(path) {
  x <- readLines(path, warn = FALSE)
  sprintf("read %s: %s", path, one_line(head(x, 3), 120))
}

done <- function(name) cat(sprintf("CHECKS COMPLETE %s\n", name))
