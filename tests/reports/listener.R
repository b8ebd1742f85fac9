# SPDX-License-Identifier: MIT
#
# Rscript listener.R PORTFILE LOGFILE
# A TCP listener on every host address (127.0.0.1 included) at a free port,
# for the hostile network report: it writes the port to PORTFILE, then logs
# one line per accepted connection (with the first line the peer sent) to
# LOGFILE, forever. The test kills it.
args <- commandArgs(trailingOnly = TRUE)
stopifnot(length(args) == 2)
server <- NULL
for (i in 1:100) {
  port <- sample(20000:60999, 1)
  server <- tryCatch(serverSocket(port), error = function(e) NULL)
  if (!is.null(server)) break
}
if (is.null(server)) stop("no free port")
tmp <- paste0(args[1], ".tmp")
writeLines(as.character(port), tmp)
file.rename(tmp, args[1])
repeat {
  con <- tryCatch(socketAccept(server, blocking = TRUE, open = "r+b", timeout = 2),
                  error = function(e) NULL)
  if (is.null(con)) next
  first <- tryCatch(readLines(con, n = 1, warn = FALSE), error = function(e) "")
  close(con)
  cat(sprintf("%s connection: %s\n", format(Sys.time(), "%H:%M:%OS3"),
              paste(first, collapse = "")), file = args[2], append = TRUE)
}
