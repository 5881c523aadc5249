package view

import (
	"fmt"
	"io"
	"time"

	"github.com/licbridge/licbridge/license"
)

// WriteVerified writes licbridge license verify's lines for the key file path
// evaluated alone (e): what a valid key grants and until when, with its
// warning, or why it is not valid (its status at now). It reports whether
// the key is valid.
func WriteVerified(w io.Writer, path string, e license.Entry, now time.Time) bool {
	if e.Status != license.StatusValid {
		fmt.Fprintf(w, "%s: %s\n", path, StatusText(KeyOf(e, now)))
		return false
	}
	fmt.Fprintf(w, "%s: valid: key %s, %s, %s, %s, counts until %s\n",
		path, e.KeyID, e.Product, Plural(e.Channels, "channel"), e.Binding, e.CountsUntil.Format(license.TimeLayout))
	if e.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", e.Warning)
	}
	return true
}

// WriteVerifiedFiles evaluates each key file alone (license.EvaluateFile) by
// opts and writes its lines (WriteVerified): how many are not valid.
func WriteVerifiedFiles(w io.Writer, paths []string, opts license.EvalOptions) (bad int) {
	for _, path := range paths {
		if !WriteVerified(w, path, license.EvaluateFile(path, opts), time.Now()) {
			bad++
		}
	}
	return bad
}
