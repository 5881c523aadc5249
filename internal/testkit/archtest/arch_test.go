// Package archtest checks the direction of the imports between the project's
// packages (issue 12): the layers of README's Development map, read from
// `go list`, so that a change that imports upward fails here and not in a
// review.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/licbridge/licbridge/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list over the module; Imports leaves out test files.
func listPackages(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json"}, args...)...)
	cmd.Dir = "../../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		own := p.Imports[:0]
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				own = append(own, strings.TrimPrefix(imp, module))
			}
		}
		p.Imports = own
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func under(path string, roots ...string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// The rules: who may not import whom. Each names a set of packages and the
// packages they must not import, with the reason.
var rules = []struct {
	who, why string
	from     func(string) bool
	banned   func(string) bool
}{
	{"license, backoff", "the domain's base, and the clients' one reconnect policy, import nothing of ours",
		func(p string) bool { return under(p, "license", "backoff") }, func(i string) bool { return true }},
	{"admission, view", "the shared contracts import only license",
		func(p string) bool { return under(p, "admission", "view") }, func(i string) bool { return !under(i, "license") }},
	{"protocol packages", "ami, ari, dialplan and sipmon take small interfaces; they do not import the core or anything above it",
		func(p string) bool { return under(p, "ami", "ari", "dialplan", "sipmon") },
		func(i string) bool { return under(i, "bridge", "admin", "daemon", "config", "issuer", "cmd", "view") }},
	{"admin", "admin speaks HTTP over the view and nothing else",
		func(p string) bool { return under(p, "admin") }, func(i string) bool { return !under(i, "view", "license") }},
	{"bridge", "the core does not import the surfaces or the composition root",
		func(p string) bool { return under(p, "bridge") }, func(i string) bool { return under(i, "admin", "daemon", "config", "cmd", "issuer") }},
	{"issuer", "the issuer service stands beside the node: license only",
		func(p string) bool { return under(p, "issuer") }, func(i string) bool { return !under(i, "license") }},
	{"everything but cmd", "only cmd imports cmd, and only cmd and the demo import the composition root",
		func(p string) bool { return !under(p, "cmd") },
		func(i string) bool { return under(i, "cmd") }},
	{"product code", "test kits are for tests",
		func(p string) bool { return !under(p, "internal/testkit") }, func(i string) bool { return under(i, "internal/testkit") }},
}

func TestImportsPointDown(t *testing.T) {
	for _, p := range listPackages(t, "./...") {
		for _, r := range rules {
			if !r.from(p.ImportPath) {
				continue
			}
			for _, imp := range p.Imports {
				if r.banned(imp) {
					t.Errorf("%s imports %s: %s (rule for %s)", p.ImportPath, imp, r.why, r.who)
				}
			}
		}
	}
}

// TestBinaryHasNoTestKit: nothing test-only is linked into licbridge.
func TestBinaryHasNoTestKit(t *testing.T) {
	for _, p := range listPackages(t, "./cmd/licbridge") {
		for _, d := range p.Deps {
			if strings.Contains(d, "/internal/testkit") || d == "testing" || strings.Contains(d, "stretchr/testify") {
				t.Errorf("licbridge links %s, a test-only package", d)
			}
		}
	}
}
