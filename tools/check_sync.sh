#!/usr/bin/env bash
# Fails when `nbdev-export` or `nbdev-clean` would change the tree: a module edited by hand,
# a notebook not exported, or a notebook saved with metadata/outputs nbdev-clean strips.
set -euo pipefail
state() { git status --porcelain=v1 --untracked-files=all -- nbs self_supervised | sort; }
difs() { git diff -- nbs self_supervised | md5sum; }
s0=$(state); d0=$(difs)
nbdev-export
nbdev-clean
s1=$(state); d1=$(difs)
if [ "$s0" != "$s1" ] || [ "$d0" != "$d1" ]; then
  echo "ERROR: notebooks and self_supervised/ are out of sync: nbdev-export/nbdev-clean changed these files:" >&2
  changed=$( (diff <(echo "$s0") <(echo "$s1") | sed -n 's/^[<>] ...//p'; git diff --name-only -- nbs self_supervised) | sort -u)
  for f in $changed; do
    case "$f" in
      self_supervised/*) nb=$(grep -m1 -o 'File to edit: [^ ]*' "$f" 2>/dev/null | sed 's/File to edit: ..\///; s/\.$//' || true)
        echo "  $f: generated from ${nb:-a notebook}; edit the notebook, not the module, then run 'make export' and commit both." >&2;;
      nbs/*) echo "  $f: not clean or not exported; run 'make export' and commit it with its module." >&2;;
    esac
  done
  exit 1
fi
echo "notebooks in sync with self_supervised/"
