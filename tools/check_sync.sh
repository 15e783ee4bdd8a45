#!/usr/bin/env bash
# Fails when `nbdev-export` or `nbdev-clean` would change the tree: a module edited by hand,
# a notebook not exported, or a notebook saved with metadata/outputs nbdev-clean strips.
set -euo pipefail
snap() { git status --porcelain=v1 --untracked-files=all -- nbs self_supervised | sort; git diff -- nbs self_supervised | md5sum; }
before=$(snap)
nbdev-export
nbdev-clean
after=$(snap)
if [ "$before" != "$after" ]; then
  echo "ERROR: notebooks and self_supervised/ are out of sync (nbdev-export/nbdev-clean changed files):" >&2
  diff <(echo "$before") <(echo "$after") | grep '^>' | sed 's/^> /  /' >&2 || true
  for f in $(git diff --name-only -- self_supervised); do
    nb=$(grep -m1 -o 'File to edit: [^ ]*' "$f" 2>/dev/null | sed 's/File to edit: //' || true)
    [ -n "$nb" ] && echo "  $f is generated from ${nb#../}: edit that notebook, run 'make export', commit both." >&2
  done
  for f in $(git diff --name-only -- nbs); do echo "  $f was not clean: run 'make export' and commit it." >&2; done
  exit 1
fi
echo "notebooks in sync with self_supervised/"
