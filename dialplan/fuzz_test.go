package dialplan

import (
	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/license"
	"testing"

	"github.com/licbridge/licbridge/dialplan/agi"
)

// FuzzParseRequest: any script and first argument either give ErrBadRequest or a
// request with a known verb and a well-formed product.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"admit", "admit,g729", "admit?feature=g729", "release?product=fax", "/STATUS,hpec", "admit,a,b", "admit?product=%zz"} {
		f.Add(s, "g729")
	}
	f.Add("admit", "linkedid=1795386300.1")
	f.Fuzz(func(t *testing.T, script, arg string) {
		req, err := ParseRequest(agi.Env{
			{Key: "agi_network_script", Value: script},
			{Key: "agi_uniqueid", Value: "1.1"},
			{Key: "agi_arg_1", Value: arg},
		})
		if err != nil {
			return
		}
		switch req.Verb {
		case admission.VerbAdmit, admission.VerbRelease, admission.VerbStatus:
		default:
			t.Fatalf("verb %q", req.Verb)
		}
		if err := license.CheckProductName(req.Product); err != nil {
			t.Fatal(err)
		}
	})
}
