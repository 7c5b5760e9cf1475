#!/usr/bin/env bash
# The whole cycle on a fresh machine, with no server and no API key:
#   init -> generate -> dedup -> split -> train bundle (+ train.py --dry-run) -> HTML report.
# Everything goes into DEMO_DIR (default ./demo), which is recreated on each run.
# With OPENAI_API_KEY or OPENAI_BASE_URL set, the LLM writes 20 records instead of the rules backend's 200.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/correctly}
DEMO_DIR=${DEMO_DIR:-$PWD/demo}
case "$DEMO_DIR" in /*) ;; *) DEMO_DIR=$PWD/$DEMO_DIR ;; esac
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"

# keep every file of the demo inside DEMO_DIR: the store, the index, the config lookup and Python's cache
export CORRECTLY_DATA_DIR="$DEMO_DIR/data"
export XDG_CONFIG_HOME="$DEMO_DIR/config"
export PYTHONDONTWRITEBYTECODE=1
unset MONGODB_URI CHROMA_URL

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
start=$(date +%s)

step "init: embedded store and index in $CORRECTLY_DATA_DIR"
"$BIN" init

if [ -n "${OPENAI_API_KEY:-}" ] || [ -n "${OPENAI_BASE_URL:-}" ]; then
	step "generate: 20 records with the LLM (correction_script)"
	"$BIN" generate --prompt correction_script -n 20 --seed 1
	prompt=correction_script
	"$BIN" corpus list --limit 3
else
	step "generate: 200 records offline with the rules backend (no API key needed)"
	"$BIN" generate --backend rules -n 200 --seed 1
	prompt=learner_errors
	"$BIN" corpus list --limit 3
	step "the same schema, as an LLM would be asked (dry run, no request)"
	"$BIN" generate --prompt correction_script -n 20 --seed 1 --dry-run | tail -n 1
fi

step "dedup: near-duplicate clusters among accepted records"
"$BIN" dedup scan --prompt "$prompt"
"$BIN" dedup query "Yesterday I go to the library with my friend." -k 3 --prompt "$prompt"

step "split: train/val/test with no near-duplicate pair across parts"
"$BIN" split create demo --prompt "$prompt" --ratios train=0.9,val=0.05,test=0.05 --seed 1
"$BIN" split check demo

step "train bundle (and train.py --dry-run when python3 is here)"
"$BIN" train bundle --split demo --base-model Qwen/Qwen2.5-0.5B-Instruct --epochs 2 -o "$DEMO_DIR/bundle" >/dev/null

step "report"
"$BIN" report --prompt "$prompt" --html "$DEMO_DIR/report.html" >/dev/null

"$BIN" corpus export --prompt "$prompt" --format chat -o "$DEMO_DIR/export/chat.jsonl"

cat >&2 <<EOM

Done in $(( $(date +%s) - start ))s. Everything is in $DEMO_DIR:
  data/             embedded MongoDB-compatible store (FerretDB) and vector index
  report.html       the prompt-version report: open it in a browser
  bundle/           the training bundle (manifest.json lists every file with its SHA-256)
  export/chat.jsonl the accepted records as chat examples

Next:
  export CORRECTLY_DATA_DIR=$CORRECTLY_DATA_DIR
  $BIN corpus list --limit 5
  $BIN corpus show \$($BIN corpus list --limit 1 --json | sed -n 's/.*"id": "\(.*\)",/\1/p' | head -n 1)
  $BIN train push --bundle $DEMO_DIR/bundle --host user@gpu-box:22     # on a rented GPU over SSH
  $BIN train status RUN ; $BIN train logs RUN -f ; $BIN train pull RUN
  OPENAI_API_KEY=... $BIN generate --prompt correction_script -n 20   # the real thing
EOM
