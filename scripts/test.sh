#!/bin/sh
# `npm test`: tap with the terse reporter (.taprc). Its renderer (ink) redraws the progress block on
# every change; piped into a file or a CI log that is a thousand lines for a five-line result. With
# CI set, ink prints only the final frame: failures, the counts and tap's `# { total: ... }` line.
[ -t 1 ] || export CI="${CI:-true}"
exec tap "$@"
