package sipmon

import "io"

// WriteReport writes r as JSON (WriteJSON) with asJSON, else as text
// (Report.WriteText): a running monitor's report when it stops.
func WriteReport(w io.Writer, r *Report, asJSON bool) error {
	if asJSON {
		return WriteJSON(w, r)
	}
	return r.WriteText(w)
}
