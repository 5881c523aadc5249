package archtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs: every product package has a doc.go whose package comment
// says its job and its neighbours (issue 12), so that a reader finds both in
// one place. Test kits, tools and the main package are left out.
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t, "./...") {
		if under(p.ImportPath, "internal/testkit", "tools", "contrib", "cmd") || p.ImportPath+"/" == module {
			continue
		}
		path := filepath.Join("../../..", p.ImportPath, "doc.go")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no doc.go: %v", p.ImportPath, err)
			continue
		}
		doc := string(b)
		if !strings.HasPrefix(doc, "// Package ") || !strings.Contains(doc, "Neighbours:") {
			t.Errorf("%s/doc.go: want a package comment (// Package ...) that names its neighbours (Neighbours: ...)", p.ImportPath)
		}
	}
}
