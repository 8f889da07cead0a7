#!/bin/sh
# scripts/test-summary.sh LOG...: what went wrong in each pass of make
# test, printed last.  CI shows only the end of a run's output, and the
# plain pass's log is printed first, so without this a failure there is
# out of sight behind three whole passes that succeeded.  For each log:
# its result line, prove's summary report, and each failed assertion
# with the diagnostics under it (at most 40 lines per log).

for log in "$@"; do
    [ -f "$log" ] || continue

    result=$(grep -E '^Result: ' "$log" | tail -1)
    echo "== $(basename "$log" .log): ${result:-no result line (the pass did not finish)}"

    case "$result" in
    "Result: PASS") continue ;;
    esac

    {
        sed -n '/^Test Summary Report/,/^Files=/p' "$log"
        awk '
            /^Test Summary Report/ { exit }
            /^[[:space:]]*not ok / || /Failed test/ { keep = 8 }
            /Dubious|Wstat|Bailout|Bail out/ { keep = 3 }
            keep > 0 { print; keep-- }
        ' "$log"
    } | head -40
done
