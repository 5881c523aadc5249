package dialplan

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/template"

	"github.com/licbridge/licbridge/license"
)

// How the printed dialplan asks licbridge, and what it does when licbridge does not
// answer.
const (
	// ViaAGI: AGI(agi://HOST:PORT/admit,PRODUCT,linkedid=${CHANNEL(linkedid)}),
	// the FastAGI server. The linkedid argument saves the session a round
	// trip (Asterisk 22 puts no linkedid in the AGI environment).
	ViaAGI = "agi"
	ViaARI = "ari" // Stasis(APP,admit,PRODUCT): the ARI application

	FailOpen   = "open"   // no answer: let the call use the feature (the default)
	FailClosed = "closed" // no answer: refuse the feature
)

// DefaultARIApp is the Stasis application name when GenerateOptions.ARIApp is empty.
const DefaultARIApp = "licbridge"

// GenerateOptions choose what Generate prints. A zero value means the defaults.
type GenerateOptions struct {
	// Products get one Gosub routine each, [licbridge-PRODUCT]. Default: the built-in
	// products (license.BuiltinProductNames: g729, hpec, fax, ffa).
	Products []string
	// Via is ViaAGI (default) or ViaARI.
	Via string
	// AGIAddr is the FastAGI server's HOST:PORT as Asterisk dials it. Default 127.0.0.1:4573.
	AGIAddr string
	// ARIApp is the Stasis application name. Default licbridge.
	ARIApp string
	// OnFailure is FailOpen (default) or FailClosed: what the routine returns when
	// licbridge cannot be reached or gives no decision.
	OnFailure string
}

// normalize fills defaults and checks every field, naming the one that is wrong.
func (o GenerateOptions) normalize() (GenerateOptions, error) {
	if len(o.Products) == 0 {
		o.Products = license.BuiltinProductNames()
	}
	seen := map[string]bool{}
	var products []string
	for _, p := range o.Products {
		p = strings.ToLower(strings.TrimSpace(p))
		if err := license.CheckProductName(p); err != nil {
			return o, fmt.Errorf("dialplan: %w", err)
		}
		if !seen[p] {
			seen[p] = true
			products = append(products, p)
		}
	}
	o.Products = products
	switch o.Via = strings.ToLower(o.Via); o.Via {
	case "":
		o.Via = ViaAGI
	case ViaAGI, ViaARI:
	default:
		return o, fmt.Errorf("dialplan: via %q: want agi or ari", o.Via)
	}
	if o.AGIAddr == "" {
		o.AGIAddr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(o.AGIAddr)
	if err != nil {
		return o, fmt.Errorf("dialplan: agi address %q: want HOST:PORT", o.AGIAddr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return o, fmt.Errorf("dialplan: agi address %q: bad port", o.AGIAddr)
	}
	if host == "" || strings.ContainsAny(host, " \t,()/\\\"'${}") {
		return o, fmt.Errorf("dialplan: agi address %q: bad host", o.AGIAddr)
	}
	o.AGIAddr = net.JoinHostPort(host, port)
	if o.ARIApp == "" {
		o.ARIApp = DefaultARIApp
	}
	for _, c := range o.ARIApp {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return o, fmt.Errorf("dialplan: ari app %q: want letters, digits, '.', '-' or '_'", o.ARIApp)
		}
	}
	switch o.OnFailure = strings.ToLower(o.OnFailure); o.OnFailure {
	case "":
		o.OnFailure = FailOpen
	case FailOpen, FailClosed:
	default:
		return o, fmt.Errorf("dialplan: on-failure %q: want open or closed", o.OnFailure)
	}
	return o, nil
}

// Generate prints ready-to-include dialplan (extensions.conf syntax, Asterisk 22):
// a Gosub routine per product that admits the channel and returns ADMITTED or
// REJECTED in GOSUB_RETVAL, with usage comments. The output depends only on the
// options, so it can be diffed and kept under version control.
func Generate(w io.Writer, opts GenerateOptions) error {
	o, err := opts.normalize()
	if err != nil {
		return err
	}
	data := genData{GenerateOptions: o}
	for _, p := range o.Products {
		data.Routines = append(data.Routines, routine{Product: p, Usage: usageFor(p)})
	}
	if err := tmpl.Execute(w, data); err != nil {
		return fmt.Errorf("dialplan: print: %w", err)
	}
	return nil
}

type genData struct {
	GenerateOptions
	Routines []routine
}

type routine struct {
	Product string
	Usage   string // comment lines, each starting with "; "
}

// usageFor says where in the dialplan a product's routine belongs: licbridge counts
// what the dialplan asks it to admit, so asking in the right place is what makes
// the count match what Asterisk's licensed modules counted.
func usageFor(product string) string {
	switch product {
	case "g729":
		return `; Call it on the leg that TRANSCODES: the channel whose audio Asterisk must
; translate to or from G.729 (for example a G.729 trunk call bridged to a phone
; that speaks only ulaw/alaw). One license per transcoding path, as Digium's
; codec_g729a counted. A call that is G.729 on both legs passes through without
; translation and needs no license.
;
;   [from-trunk]
;   exten => _X.,1,Gosub(licbridge-g729,s,1)
;    same => n,GotoIf($["${GOSUB_RETVAL}" != "ADMITTED"]?nolicense)
;    same => n,Dial(PJSIP/${EXTEN}@office,30)
;    same => n,Hangup()
;    same => n(nolicense),Congestion()`
	case "hpec":
		return `; Call it on the channel that gets HPEC echo cancellation (the DAHDI channel),
; before Dial() or Answer(): one license per echo-cancelled channel.
;
;   [from-pstn]
;   exten => _X.,1,Gosub(licbridge-hpec,s,1)
;    same => n,GotoIf($["${GOSUB_RETVAL}" != "ADMITTED"]?noec)
;    same => n,Dial(PJSIP/${EXTEN}@office,30)
;    same => n,Hangup()
;    same => n(noec),Set(CHANNEL(echocan_mode)=off)`
	case "fax", "ffa":
		return `; Call it right before ReceiveFAX() or SendFAX(): one license per fax session.
; The license is released when the channel hangs up; if the call goes on after
; the fax, Gosub(licbridge-` + product + `,release,1) frees it at once.
;
;   [fax-in]
;   exten => fax,1,Gosub(licbridge-` + product + `,s,1)
;    same => n,GotoIf($["${GOSUB_RETVAL}" != "ADMITTED"]?nolicense)
;    same => n,ReceiveFAX(/var/spool/asterisk/fax/${UNIQUEID}.tif)
;    same => n,Hangup()
;    same => n(nolicense),Hangup(21)`
	}
	return `; Call it on the channel that uses the licensed ` + product + ` feature, before the
; feature starts: one license per channel that asks.
;
;   exten => _X.,1,Gosub(licbridge-` + product + `,s,1)
;    same => n,GotoIf($["${GOSUB_RETVAL}" != "ADMITTED"]?nolicense)`
}

var tmpl = template.Must(template.New("dialplan").Parse(`; licbridge dialplan for Asterisk 22, printed by licbridge dialplan
;   via {{if eq .Via "agi"}}FastAGI agi://{{.AGIAddr}}{{else}}ARI application {{.ARIApp}}{{end}}, on failure: {{if eq .OnFailure "open"}}fail-open{{else}}fail-closed{{end}}
;
; Install: save this as /etc/asterisk/extensions_licbridge.conf, add the line
;   #include extensions_licbridge.conf
; to extensions.conf, and run "dialplan reload".
;
; Each product has a Gosub routine. Call it on the channel that needs the license:
;   same => n,Gosub(licbridge-PRODUCT,s,1)
;   same => n,GotoIf($["${GOSUB_RETVAL}" != "ADMITTED"]?nolicense)
; GOSUB_RETVAL says what to do: ADMITTED (go on) or REJECTED (do not use the
; licensed feature). The details are left in channel variables:
;   LICBRIDGE_STATUS  ADMITTED, REJECTED, or ERROR when licbridge gave no decision
;   LICBRIDGE_REASON  OVER_LIMIT, NO_LICENSE, EXPIRED, LOCKED, STORE_UNAVAILABLE,
;                     BAD_REQUEST, INTERNAL, TIMEOUT, STARTING (licbridge has
;                     just started), DRAINING (licbridge is stopping{{if eq .Via "agi"}}:
;                     its FastAGI listener closes at once, so this is seen
;                     mostly as UNREACHABLE{{end}}), or UNREACHABLE when licbridge
;                     could not be reached{{if eq .Via "agi"}} (AGISTATUS is not SUCCESS) or set nothing{{else}} (STASISSTATUS is not SUCCESS){{end}}
;   LICBRIDGE_LEASE   the lease of an admitted channel
{{- if eq .OnFailure "open"}}
; With no decision (ERROR) the routine is fail-open: it returns ADMITTED, so
; calls go on while licbridge is down. Either way it logs a WARNING.
{{- else}}
; With no decision (ERROR) the routine is fail-closed: it returns REJECTED, so
; no channel uses the feature unlicensed while licbridge is down. Either way it
; logs a WARNING.
{{- end}}
{{- if eq .Via "ari"}}
; If licbridge is set to hang up rejected channels, a rejected channel does not
; return from Stasis() at all.
{{- end}}
;
; Release: nothing to add, and no h extension is needed. licbridge releases the
; license by itself when the channel hangs up (it follows channels over AMI and
; ARI), and a crashed node's holdings lapse on their own.
{{range .Routines}}
; ---- {{.Product}} ----
{{.Usage}}
[licbridge-{{.Product}}]
exten => s,1,NoOp(licbridge: admit {{.Product}} for ${CHANNEL})
 same => n,Set(LICBRIDGE_STATUS=)
 same => n,Set(LICBRIDGE_REASON=)
 same => n,Set(LICBRIDGE_LEASE=)
{{- if eq $.Via "agi"}}
 same => n,AGI(agi://{{$.AGIAddr}}/admit,{{.Product}},linkedid=${CHANNEL(linkedid)})
 same => n,GotoIf($["${AGISTATUS}" != "SUCCESS"]?failed)
{{- else}}
 same => n,Stasis({{$.ARIApp}},admit,{{.Product}})
 same => n,GotoIf($["${STASISSTATUS}" != "SUCCESS"]?failed)
{{- end}}
 same => n,GotoIf($["${LICBRIDGE_STATUS}" = "ADMITTED"]?admitted)
 same => n,GotoIf($["${LICBRIDGE_STATUS}" = "REJECTED"]?rejected)
 same => n(failed),ExecIf($["${LICBRIDGE_REASON}" = ""]?Set(LICBRIDGE_REASON=UNREACHABLE))
 same => n,Set(LICBRIDGE_STATUS=ERROR)
 same => n,Log(WARNING,licbridge: no {{.Product}} decision for ${CHANNEL} - {{if eq $.Via "agi"}}AGISTATUS ${AGISTATUS}{{else}}STASISSTATUS ${STASISSTATUS}{{end}} reason ${LICBRIDGE_REASON} - fail-{{$.OnFailure}})
 same => n,Return({{if eq $.OnFailure "open"}}ADMITTED{{else}}REJECTED{{end}})
 same => n(admitted),Verbose(2,licbridge: {{.Product}} admitted for ${CHANNEL} lease ${LICBRIDGE_LEASE})
 same => n,Return(ADMITTED)
 same => n(rejected),Verbose(2,licbridge: {{.Product}} rejected for ${CHANNEL} reason ${LICBRIDGE_REASON})
 same => n,Return(REJECTED)
exten => release,1,Set(LICBRIDGE_STATUS=)
{{- if eq $.Via "agi"}}
 same => n,AGI(agi://{{$.AGIAddr}}/release,{{.Product}})
{{- else}}
 same => n,Stasis({{$.ARIApp}},release,{{.Product}})
{{- end}}
 same => n,Return(${LICBRIDGE_STATUS})
{{end -}}
`))
