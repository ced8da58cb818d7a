#!/usr/bin/env bash
# From the two downloads to faces in the editor: the released CelebA-HQ SEAN generator and the
# CelebAMask-HQ dataset, converted, prepared and exported, then `sean serve` with face samples.
#
#   bash scripts/faces.sh CelebA-HQ_pretrained/latest_net_G.pth CelebAMask-HQ [OUT]
#
# latest_net_G.pth: SEAN's README links CelebA-HQ_pretrained.tar.gz (Google Drive); unpack it with
#   tar -xzf CelebA-HQ_pretrained.tar.gz   (the README's `tar` line lacks -xzf).
# CelebAMask-HQ: the dataset's own release (CelebA-HQ-img/, CelebAMask-HQ-mask-anno/, as downloaded).
# OUT (default faces-out) gets checkpoint/, data/ (the prepared layout), package/. Every step is
# resumable: run the script again after an interruption. Options after OUT go to `sean convert-official`
# (e.g. --height 512 --width 512). Uses `sean` from PATH, else this checkout's .venv (scripts/demo.sh).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/faces.sh LATEST_NET_G.pth CELEBAMASK_HQ_DIR [OUT] [convert-official options]" >&2
  exit 2
fi
weights=$1
raw=$2
out=${3:-faces-out}
shift $(( $# < 3 ? $# : 3 ))
if command -v sean >/dev/null; then
  sean=(sean)
else
  sean=("$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/sean")
  [ -x "${sean[0]}" ] || { echo "no sean command: run bash scripts/demo.sh first, or pip install the project" >&2; exit 2; }
fi
[ -f "$weights" ] || { echo "$weights is not a file: give the released latest_net_G.pth" >&2; exit 2; }
[ -d "$raw" ] || { echo "$raw is not a folder: give the unpacked CelebAMask-HQ release" >&2; exit 2; }

echo "1/3 converting $weights -> $out/checkpoint"
[ -f "$out/checkpoint/config.json" ] || "${sean[@]}" convert-official "$weights" -o "$out/checkpoint" "$@"
echo "2/3 preparing $raw -> $out/data"
"${sean[@]}" prepare faces "$raw" -o "$out/data"
echo "3/3 exporting -> $out/package (a few minutes; about 6 GB of memory at 256x256)"
[ -f "$out/package/manifest.json" ] || "${sean[@]}" export "$out/checkpoint" -o "$out/package"
echo "done. Open the editor with faces from the test split:"
echo "  sean serve $out/package --samples $out/data"
