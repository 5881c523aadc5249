package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Size limits of issue 12: no non-test file over maxFileLines, no function
// over maxFuncLines, but for the decoders and protocol dispatchers named
// here, which read better as one switch over the wire format than cut in
// pieces.
const (
	maxFileLines = 600
	maxFuncLines = 80
)

var longFuncsAllowed = map[string]string{
	"sipmon/capture/hep/hep.go Decode":                    "HEPv3 chunk decoder: one switch over chunk types",
	"license/parse.go field":                              "key file field decoder: one switch over field names",
	"internal/asterisksim/amisrv/session.go handle":       "the simulator's AMI action dispatcher",
	"internal/asterisksim/agiclient/agiclient.go run":     "the simulator's AGI session script",
	"internal/testkit/realasterisk/config.go writeConfig": "a test kit writing Asterisk's config files",
}

func TestSizes(t *testing.T) {
	root := "../../.."
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if rel == "tools" || strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		if n := fset.Position(f.End()).Line; n > maxFileLines {
			t.Errorf("%s: %d lines, over %d: split it by concern", rel, n, maxFileLines)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			key := filepath.ToSlash(rel) + " " + fd.Name.Name
			if _, ok := longFuncsAllowed[key]; n > maxFuncLines && !ok {
				t.Errorf("%s: %d lines, over %d", key, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
