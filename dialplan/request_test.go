package dialplan

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/licbridge/licbridge/dialplan/agi"
	"github.com/licbridge/licbridge/internal/testkit/fixtures"
)

func env(kv ...string) agi.Env {
	var e agi.Env
	for i := 0; i+1 < len(kv); i += 2 {
		e = append(e, agi.Var{Key: kv[i], Value: kv[i+1]})
	}
	return e
}

func TestParseRequest(t *testing.T) {
	base := []string{"agi_uniqueid", "1.1", "agi_callerid", "unknown", "agi_dnid", "unknown", "agi_extension", "200"}
	with := func(kv ...string) agi.Env { return env(append(append([]string{}, base...), kv...)...) }
	cases := []struct {
		name string
		env  agi.Env
		want Request
		bad  bool
	}{
		{"comma in AGI(): script and arg", with("agi_network_script", "admit", "agi_arg_1", "g729"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Called: "200"}, false},
		{"comma inside the script", with("agi_network_script", "admit,g729"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Called: "200"}, false},
		{"query product", with("agi_network_script", "release?product=fax"),
			Request{Verb: "release", Product: "fax", Channel: "1.1", Called: "200"}, false},
		{"query feature, as recorded", with("agi_network_script", "admit?feature=g729", "agi_arg_1", "first arg"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Called: "200"}, false},
		{"leading slash and upper case", with("agi_network_script", "/ADMIT,G729"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Called: "200"}, false},
		{"no script: from agi_request", with("agi_request", "agi://127.0.0.1:4573/status,hpec"),
			Request{Verb: "status", Product: "hpec", Channel: "1.1", Called: "200"}, false},
		{"caller and dnid known", env("agi_network_script", "admit", "agi_arg_1", "fax", "agi_uniqueid", "2.2",
			"agi_callerid", "+4930", "agi_dnid", "+4940", "agi_extension", "s", "agi_linkedid", "1.0"),
			Request{Verb: "admit", Product: "fax", Channel: "2.2", Call: "1.0", Caller: "+4930", Called: "+4940"}, false},
		{"linkedid argument, as printed", with("agi_network_script", "admit", "agi_arg_1", "g729", "agi_arg_2", "linkedid=1795386300.1"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Call: "1795386300.1", Called: "200"}, false},
		{"linkedid argument first, product in the query", with("agi_network_script", "admit?product=g729", "agi_arg_1", "linkedid=9.9"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Call: "9.9", Called: "200"}, false},
		{"linkedid argument is no product", with("agi_network_script", "admit", "agi_arg_1", "linkedid=9.9", "agi_arg_2", "fax"),
			Request{Verb: "admit", Product: "fax", Channel: "1.1", Call: "9.9", Called: "200"}, false},
		{"linkedid in the query", with("agi_network_script", "admit?product=g729&linkedid=9.9"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Call: "9.9", Called: "200"}, false},
		{"empty linkedid argument: asked later", with("agi_network_script", "admit", "agi_arg_1", "g729", "agi_arg_2", "linkedid="),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Called: "200"}, false},
		{"agi_linkedid wins", with("agi_network_script", "admit", "agi_arg_1", "g729", "agi_arg_2", "linkedid=9.9", "agi_linkedid", "1.0"),
			Request{Verb: "admit", Product: "g729", Channel: "1.1", Call: "1.0", Called: "200"}, false},
		{"only a linkedid argument", with("agi_network_script", "admit", "agi_arg_1", "linkedid=9.9"), Request{}, true},
		{"status needs no channel", env("agi_network_script", "status,g729"),
			Request{Verb: "status", Product: "g729"}, false},
		{"unknown verb", with("agi_network_script", "errors"), Request{}, true},
		{"no product", with("agi_network_script", "admit"), Request{}, true},
		{"two products", with("agi_network_script", "admit,g729?product=fax"), Request{}, true},
		{"three parts", with("agi_network_script", "admit,g729,fax"), Request{}, true},
		{"bad product", with("agi_network_script", "admit,g 729"), Request{}, true},
		{"bad query", with("agi_network_script", "admit?product=%zz"), Request{}, true},
		{"no channel", env("agi_network_script", "admit,g729"), Request{}, true},
		{"no script at all", with(), Request{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.env)
			if tc.bad {
				if !errors.Is(err, ErrBadRequest) {
					t.Fatalf("got %+v, %v; want ErrBadRequest", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v\nwant %+v", got, err, tc.want)
			}
		})
	}
}

// TestParseRecordedRequests reads the recorded environments: agi_admit_1 is a valid
// admit of g729 (from ?feature=, its agi_arg_1 "first arg" ignored), the others are
// not licbridge requests.
func TestParseRecordedRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Request
		bad  bool
	}{
		{"agi_admit_1", Request{Verb: "admit", Product: "g729", Channel: "1795386360.29", Called: "s"}, false},
		{"agi_errors_1", Request{}, true},
		{"agi_hangtest_1", Request{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := agi.ReadEnv(bufio.NewReader(bytes.NewReader(fixtures.Read(t, "asterisk", tc.name+".rx.raw"))), agi.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseRequest(e)
			if tc.bad != (err != nil) || (!tc.bad && got != tc.want) {
				t.Errorf("got %+v, %v", got, err)
			}
		})
	}
}
