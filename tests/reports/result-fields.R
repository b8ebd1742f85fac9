# SPDX-License-Identifier: MIT
#
# Rscript result-fields.R RESULT.json
# Prints the fields of a cordon result the report test needs, one per line,
# so that bash can read them without a JSON parser of its own:
#   verdict ok | exit_code 0 | pids_limit_hits 0 | wall_ms 123
#   artifact PATH SIZE SHA256 TYPE
#   refused PATH REASON
# jsonlite comes with rmarkdown (it imports it).
r <- jsonlite::fromJSON(commandArgs(trailingOnly = TRUE)[1], simplifyVector = FALSE)
field <- function(x) if (is.null(x)) "null" else paste(format(x, scientific = FALSE), collapse = ",")
for (k in c("verdict", "exit_code", "pids_limit_hits", "wall_ms"))
  cat(k, field(r[[k]]), "\n")
for (a in r$artifacts) {
  if (!is.null(a$refused)) {
    cat("refused", field(a$path), gsub("[[:space:]]+", "_", field(a$refused)), "\n")
  } else {
    cat("artifact", field(a$path), field(a$size), field(a$sha256), field(a$type), "\n")
  }
}
