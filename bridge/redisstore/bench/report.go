package bench

import (
	"encoding/json"
	"fmt"
	"io"
)

// Write prints res for an operator, or as one JSON object.
func Write(w io.Writer, res Result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("bench admission (%s): %d nodes x %d keys, %d product(s), concurrency %d, total %d per product\n",
		res.Mode, res.Nodes, res.Keys, res.Products, res.Concurrency, res.Capacity)
	p("  admissions  %d (refused %d, errors %d), releases %d, in %.2f s: %.0f admissions/s\n",
		res.Admissions, res.Refused, res.Errors, res.Releases, res.Seconds, res.PerSecond)
	p("  admit       p50 %8.0f us   p99 %8.0f us\n", res.AdmitP50, res.AdmitP99)
	p("  release     p50 %8.0f us   p99 %8.0f us\n", res.ReleaseP50, res.ReleaseP99)
	p("  redis       %.1f us per script call, %.1f us of CPU per admit+release (heartbeats included; idle %.1f ms/s left out)\n",
		res.RedisUsPerCall, res.RedisCPUUsPerPair, res.RedisIdleCPUMsPerSec)
	if res.FloorCPUUsPerPair > 0 {
		p("  floor       two trivial script calls made the same way: %.1f us of CPU (a call p50 %.0f us, p99 %.0f us);\n"+
			"              admit+release = %.2fx the floor\n", res.FloorCPUUsPerPair, res.FloorP50, res.FloorP99, res.PairOverFloor)
	}
	if res.Mode == "steady" {
		verdict := "never exceeded"
		if res.LimitExceeded {
			verdict = "EXCEEDED"
		}
		p("  steady      %d held, %d/s churn; most in use %d of %d: limit %s\n", res.Hold, res.Churn, res.MaxInUse, res.Capacity, verdict)
	}
	if res.Cleaned {
		p("  cleaned up: every key the run wrote is deleted\n")
	}
	return nil
}
