package chart

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/licbridge/licbridge/bridge/stats"
)

// WriteReports prints stats concurrent's answer: the reports as indented
// JSON with asJSON, else as charts in style st, or a line saying that the
// last days (days of them) recorded no channel.
func WriteReports(w io.Writer, reps []stats.Report, asJSON bool, st Style, days int) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(reps)
	}
	if len(reps) == 0 {
		_, err := fmt.Fprintf(w, "no channels recorded in the last %d days\n", days)
		return err
	}
	return Write(w, reps, st)
}

// StyleFor is the style to print to w in: Unicode on a terminal (but a dumb
// one), ASCII for pipes and files or when ascii asks for it.
func StyleFor(w io.Writer, ascii bool) Style {
	f, ok := w.(*os.File)
	if !ascii && ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) && os.Getenv("TERM") != "dumb" {
		return Unicode
	}
	return ASCII
}
