package view

import (
	"encoding/json"
	"io"
)

// WriteJSON writes v as indented JSON (show licenses --json): the same
// fields the admin API serves.
func WriteJSON(w io.Writer, v View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
