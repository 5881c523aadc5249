package dialplan

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/dialplan/agi"
	"github.com/licbridge/licbridge/license"
)

// ErrBadRequest is a FastAGI request the server cannot act on.
var ErrBadRequest = errors.New("bad request")

// Request is what one FastAGI session asks for, decoded from its environment.
type Request struct {
	Verb    admission.Verb
	Product string
	Channel string // agi_uniqueid
	// Call is the channel's linkedid: agi_linkedid when sent (Asterisk 22 does
	// not), else the linkedid=... argument the printed dialplan passes, else ""
	// (the server then asks with GET VARIABLE CHANNEL(linkedid)).
	Call   string
	Caller string // agi_callerid, "" for Asterisk's "unknown"
	Called string // agi_dnid, else agi_extension
}

// ParseRequest decodes the request from the environment. Asterisk puts the text
// after `agi://HOST[:PORT]/` up to the first comma of AGI()'s argument in
// agi_network_script, and the comma-separated rest in agi_arg_1, agi_arg_2, ...
// (agi_admit_1: `AGI(agi://127.0.0.1:4573/admit?feature=g729,first arg,second)`
// gives `admit?feature=g729`, `first arg`, `second`). So the product may come as
//
//	AGI(agi://HOST/admit,g729)          agi_network_script=admit, agi_arg_1=g729
//	AGI(agi://HOST/admit?product=g729)  (or ?feature=g729) in the query
//	agi_network_script=admit,g729       should a proxy pass it that way
//
// The script's own product (comma or query) wins over agi_arg_1, so that extra
// arguments never change what is admitted; two different products in the script are
// an error.
//
// The call's linkedid may come as an argument, `linkedid=${CHANNEL(linkedid)}`
// (what `licbridge dialplan` prints: it spares the session a round trip), or
// as `linkedid=` in the query; such an argument is not a product.
func ParseRequest(env agi.Env) (Request, error) {
	script, ok := env.Get("agi_network_script")
	if !ok {
		// agi_request is the whole URL; keep what follows host and port.
		u := env.Value("agi_request")
		rest, found := strings.CutPrefix(u, "agi://")
		if !found {
			return Request{}, fmt.Errorf("%w: no agi_network_script and agi_request %q is not agi://", ErrBadRequest, u)
		}
		_, script, _ = strings.Cut(rest, "/")
	}
	path, query, _ := strings.Cut(strings.TrimLeft(script, "/"), "?")
	verb, pathProduct, _ := strings.Cut(path, ",")
	if strings.Contains(pathProduct, ",") {
		return Request{}, fmt.Errorf("%w: script %q: more than one product", ErrBadRequest, script)
	}
	v, ok := admission.ParseVerb(verb)
	if !ok {
		return Request{}, fmt.Errorf("%w: script %q: unknown request %q (want admit, release or status)", ErrBadRequest, script, verb)
	}

	product := pathProduct
	var linkedid string
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return Request{}, fmt.Errorf("%w: script %q: query: %v", ErrBadRequest, script, err)
		}
		linkedid = q.Get(linkedidArg)
		for _, key := range []string{"product", "feature"} {
			v := q.Get(key)
			if v == "" {
				continue
			}
			if product != "" && product != v {
				return Request{}, fmt.Errorf("%w: script %q: products %q and %q", ErrBadRequest, script, product, v)
			}
			product = v
		}
	}
	var positional []string
	for _, a := range env.Args() {
		if v, ok := strings.CutPrefix(a, linkedidArg+"="); ok {
			if linkedid == "" {
				linkedid = v
			}
			continue
		}
		positional = append(positional, a)
	}
	if product == "" && len(positional) > 0 {
		product = positional[0]
	}
	if product == "" {
		return Request{}, fmt.Errorf("%w: script %q: no product (use %s,PRODUCT)", ErrBadRequest, script, v)
	}
	product = strings.ToLower(product)
	if err := license.CheckProductName(product); err != nil {
		return Request{}, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}

	req := Request{
		Verb:    v,
		Product: product,
		Channel: env.Value("agi_uniqueid"),
		Call:    env.Value("agi_linkedid"),
		Caller:  known(env.Value("agi_callerid")),
		Called:  known(env.Value("agi_dnid")),
	}
	if req.Called == "" {
		req.Called = env.Value("agi_extension")
	}
	if req.Call == "" {
		req.Call = linkedid
	}
	if req.Channel == "" && v != admission.VerbStatus {
		return Request{}, fmt.Errorf("%w: %s %s: no agi_uniqueid", ErrBadRequest, v, product)
	}
	return req, nil
}

// linkedidArg names the argument (or query parameter) that carries the
// call's linkedid.
const linkedidArg = "linkedid"

// known maps Asterisk's placeholder for an absent caller ID or DNID to "".
func known(s string) string {
	if s == "unknown" {
		return ""
	}
	return s
}
