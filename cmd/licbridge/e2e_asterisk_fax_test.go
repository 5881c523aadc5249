package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/internal/testkit/realasterisk"
)

// faxTIFF writes a one-page fax image that spandsp's SendFAX accepts: 1728
// pels wide (A4/Letter at R8), 204x98 dpi (standard resolution), 1 bit per
// pixel, uncompressed (spandsp reads any compression libtiff decodes), with a
// black band so that the page is not blank. Written at test time, so no image
// tool is needed.
func faxTIFF(t *testing.T, path string) {
	t.Helper()
	const width, rows = 1728, 200
	const rowBytes = width / 8
	img := make([]byte, rowBytes*rows)
	for r := 80; r < 120; r++ { // WhiteIsZero: 0xff is black
		for c := 20; c < rowBytes-20; c++ {
			img[r*rowBytes+c] = 0xff
		}
	}
	type entry struct {
		tag, typ uint16
		count    uint32
		value    uint32
	}
	const (
		short    = 3
		long     = 4
		rational = 5
	)
	entries := []entry{
		{256, long, 1, width},            // ImageWidth
		{257, long, 1, rows},             // ImageLength
		{258, short, 1, 1},               // BitsPerSample
		{259, short, 1, 1},               // Compression: none
		{262, short, 1, 0},               // Photometric: WhiteIsZero
		{266, short, 1, 1},               // FillOrder: MSB first
		{273, long, 1, 0},                // StripOffsets (set below)
		{277, short, 1, 1},               // SamplesPerPixel
		{278, long, 1, rows},             // RowsPerStrip
		{279, long, 1, uint32(len(img))}, // StripByteCounts
		{282, rational, 1, 0},            // XResolution (set below)
		{283, rational, 1, 0},            // YResolution (set below)
		{284, short, 1, 1},               // PlanarConfiguration: contiguous
		{296, short, 1, 2},               // ResolutionUnit: inch
		{297, short, 2, 0 | 1<<16},       // PageNumber: page 0 of 1
	}
	ifdOff := uint32(8)
	ratOff := ifdOff + 2 + uint32(len(entries))*12 + 4
	dataOff := ratOff + 16
	le := binary.LittleEndian
	b := []byte{'I', 'I', 42, 0}
	b = le.AppendUint32(b, ifdOff)
	b = le.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		switch e.tag {
		case 273:
			e.value = dataOff
		case 282:
			e.value = ratOff
		case 283:
			e.value = ratOff + 8
		}
		b = le.AppendUint16(b, e.tag)
		b = le.AppendUint16(b, e.typ)
		b = le.AppendUint32(b, e.count)
		if e.typ == short && e.count == 1 {
			b = le.AppendUint16(b, uint16(e.value))
			b = le.AppendUint16(b, 0)
		} else {
			b = le.AppendUint32(b, e.value)
		}
	}
	b = le.AppendUint32(b, 0) // no next IFD
	for _, v := range []uint32{204, 1, 98, 1} {
		b = le.AppendUint32(b, v)
	}
	b = append(b, img...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// faxContexts are the fax test's own contexts. A Local pair carries the fax:
// ;2 (lbtest-faxsend) asks licbridge for a fax unit through the printed
// routine, answers and sends; ;1 (lbtest-faxrecv) receives. Each side logs its
// result at NOTICE (the level the harness's console shows), and the h
// extension logs it even when the other side's hangup ended the application.
// carol and dave (G.729 only) answer and echo: the calls res_hep reports.
func faxContexts(tiff, recvDir string) string {
	return fmt.Sprintf(`
[lbtest-faxsend]
exten => s,1,Gosub(licbridge-fax,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,GotoIf($["${LBTEST_RET}" != "ADMITTED"]?done)
 same => n,Answer()
 same => n,SendFAX(%[1]s)
 same => n(done),Hangup()
exten => h,1,Log(NOTICE,lbtest sendfax ret=${LBTEST_RET} status=${FAXSTATUS} pages=${FAXPAGES} mode=${FAXMODE} error=${FAXERROR})

[lbtest-faxrecv]
exten => s,1,ReceiveFAX(%[2]s/received.tif)
 same => n,Hangup()
exten => h,1,Log(NOTICE,lbtest receivefax status=${FAXSTATUS} pages=${FAXPAGES} mode=${FAXMODE} error=${FAXERROR})

; The same over PJSIP: PJSIP/alice, once answered, asks licbridge and sends;
; its far end (from alice to bob) receives. Both endpoints offer T.38, so
; res_fax switches the call to T.38 with a re-INVITE.
[lbtest-faxsend-sip]
exten => s,1,Gosub(licbridge-fax,s,1)
 same => n,Set(LBTEST_RET=${GOSUB_RETVAL})
 same => n,GotoIf($["${LBTEST_RET}" != "ADMITTED"]?done)
 same => n,SendFAX(%[1]s)
 same => n(done),Hangup()
exten => h,1,Log(NOTICE,lbtest sipsendfax ret=${LBTEST_RET} status=${FAXSTATUS} pages=${FAXPAGES} mode=${FAXMODE} error=${FAXERROR})

[lbtest-from-alice]
exten => bob,1,Answer()
 same => n,ReceiveFAX(%[2]s/received-sip.tif)
 same => n,Hangup()
exten => h,1,Log(NOTICE,lbtest sipreceivefax status=${FAXSTATUS} pages=${FAXPAGES} mode=${FAXMODE} error=${FAXERROR})

[lbtest-echo]
exten => s,1,Answer()
 same => n,Echo()

[lbtest-from-carol]
exten => dave,1,Answer()
 same => n,Echo()
`, tiff, recvDir)
}

var faxResultRE = regexp.MustCompile(`lbtest (\w+) .*status=(\S*) pages=(\S*) mode=(\S*)`)

// faxActiveSessions counts the sessions `fax show sessions` lists that are
// not merely Reserved (what licbridge's FAXSessions reading counts too).
func faxActiveSessions(ctx context.Context, ast *realasterisk.Asterisk) (int, string, error) {
	out, err := ast.CLI(ctx, "fax show sessions")
	if err != nil {
		return 0, "", err
	}
	n, table := 0, false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "Channel "):
			table = true
		case !table || strings.TrimSpace(l) == "" || strings.HasSuffix(l, "FAX sessions"):
		case !strings.Contains(l, " Reserved "):
			n++
		}
	}
	return n, out, nil
}

// metricLine returns the value of the /metrics sample named series
// (name{labels}), "" when there is none.
func metricLine(t *testing.T, d *daemon, series string) string {
	t.Helper()
	resp, err := apiClient.Get("http://" + d.http + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: status %d, %v", resp.StatusCode, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// waitFaxSessions waits until Asterisk lists n live fax sessions and returns
// its `fax show sessions` text.
func waitFaxSessions(t *testing.T, ctx context.Context, ast *realasterisk.Asterisk, n int) string {
	t.Helper()
	for {
		got, out, err := faxActiveSessions(ctx, ast)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return out
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never %d fax sessions active:\n%s\nasterisk:\n%s", n, out, ast.Output(30))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// checkFaxResults checks the NOTICE lines the fax contexts log on hangup:
// each side succeeded with one page in mode (audio: T.30 over G.711; T38).
func checkFaxResults(t *testing.T, ast *realasterisk.Asterisk, mode string, sides ...string) {
	t.Helper()
	results := map[string][3]string{}
	for _, m := range faxResultRE.FindAllStringSubmatch(ast.Output(1<<20), -1) {
		results[m[1]] = [3]string{m[2], m[3], m[4]}
	}
	for _, side := range sides {
		if r := results[side]; r != [3]string{"SUCCESS", "1", mode} {
			t.Errorf("%s: FAXSTATUS %q, FAXPAGES %q, FAXMODE %q; want SUCCESS, 1 page, %s\nasterisk:\n%s", side, r[0], r[1], r[2], mode, ast.Output(40))
		}
	}
}

// TestE2EAsteriskFaxAndHEP runs the daemon against one real Asterisk 22 whose
// res_hep sends to the daemon's built-in SIP monitor (issue 11): a real
// spandsp fax (SendFAX to ReceiveFAX, T.30 over a Local pair) counted by
// passive accounting with exactly the README's AMI permissions and never hung
// up when admitted, and PJSIP G.729 calls that the monitor sees as legs on the
// wire, back to 0 after their BYEs.
func TestE2EAsteriskFaxAndHEP(t *testing.T) {
	realasterisk.Find(t)
	begin := time.Now()
	k := newKeyring(t)
	k.add(t, "FAX-ONE", "fax", 1)
	k.add(t, "G729-TEN", "g729", 10)
	agiAddr := freePort(t) // the node listens here; Asterisk is told before it starts
	hepAddr := freePort(t)
	dir := t.TempDir()
	tiff := filepath.Join(dir, "page.tif")
	faxTIFF(t, tiff)
	recvDir := filepath.Join(dir, "recv")
	if err := os.Mkdir(recvDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dp := printedDialplan(t, dialplan.ViaAGI, agiAddr, "fax") + faxContexts(tiff, recvDir)
	ast := realasterisk.Start(t, realasterisk.Options{ManagerUser: readmeManagerUser(t), Dialplan: dp, HEPAddr: hepAddr})
	w := &astWorld{ast: ast, k: k, agiAddr: agiAddr}
	d := w.start(t, t.TempDir(), true, "--hangup-over-limit", "--sipmon-hep", hepAddr, "--sipmon-interval", "20ms")
	t.Logf("asterisk and licbridge up after %s", time.Since(begin).Round(time.Millisecond))

	t.Run("a real fax is counted passively and not hung up", func(t *testing.T) {
		defer w.hangupAll(t)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if _, err := ast.Dial(ctx, "Local/s@lbtest-faxsend/n", "lbtest-faxrecv"); err != nil {
			t.Fatalf("fax call: %v\nasterisk:\n%s", err, ast.Output(30))
		}
		// While the fax runs Asterisk has two sessions, one per application
		// (SendFAX on ;2, ReceiveFAX on ;1): the view counts what Asterisk
		// counts. Only ;2 asked licbridge, so one is in use.
		cli := waitFaxSessions(t, ctx, ast, 2)
		t.Logf("fax show sessions %s into the fax:\n%s", time.Since(start).Round(time.Millisecond), cli)
		u := d.waitUsage(t, "fax", "both sessions counted passively", func(u productUse) bool { return u.Passive == 2 })
		t.Logf("view during the fax: %+v", u)
		if u.InUse != 1 || u.Total != 1 {
			t.Errorf("during an admitted fax: in use %d of %d, want 1 of 1", u.InUse, u.Total)
		}
		// The fax ends by itself: both channels hang up when it is done.
		if _, err := ast.WaitChannels(ctx, func(cs []realasterisk.Channel) bool { return len(cs) == 0 }); err != nil {
			t.Fatalf("the fax never ended: %v\nasterisk:\n%s", err, ast.Output(30))
		}
		t.Logf("fax done after %s", time.Since(start).Round(time.Millisecond))
		checkFaxResults(t, ast, "audio", "sendfax", "receivefax")
		if h := grepLines(d.logs.String(), "hanging up"); h != "" {
			t.Errorf("licbridge hung up during an admitted fax (total 1, --hangup-over-limit):\n%s", h)
		}
		d.waitUsage(t, "fax", "nothing counted after the fax", func(u productUse) bool { return u.Passive == 0 && u.InUse == 0 })
	})

	t.Run("a T.38 fax over PJSIP: counted passively and on the wire", func(t *testing.T) {
		defer w.hangupAll(t)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		if _, err := ast.Dial(ctx, "PJSIP/alice", "lbtest-faxsend-sip"); err != nil {
			t.Fatalf("fax call: %v\nasterisk:\n%s", err, ast.Output(30))
		}
		u := d.waitUsage(t, "fax", "both sessions counted, one fax leg on the wire", func(u productUse) bool {
			return u.Passive == 2 && u.ObservedLegs != nil && *u.ObservedLegs == 1
		})
		cli := waitFaxSessions(t, ctx, ast, 2)
		t.Logf("%s into the fax, view %+v (wire %d); fax show sessions:\n%s", time.Since(start).Round(time.Millisecond), u, *u.ObservedLegs, cli)
		if u.InUse != 1 {
			t.Errorf("in use %d during an admitted fax, want 1", u.InUse)
		}
		if _, err := ast.WaitChannels(ctx, func(cs []realasterisk.Channel) bool { return len(cs) == 0 }); err != nil {
			t.Fatalf("the fax never ended: %v\nasterisk:\n%s", err, ast.Output(30))
		}
		t.Logf("fax done after %s", time.Since(start).Round(time.Millisecond))
		checkFaxResults(t, ast, "T38", "sipsendfax", "sipreceivefax")
		if h := grepLines(d.logs.String(), "hanging up"); h != "" {
			t.Errorf("licbridge hung up during an admitted fax:\n%s", h)
		}
		d.waitUsage(t, "fax", "nothing counted or on the wire after the fax", func(u productUse) bool {
			return u.Passive == 0 && u.InUse == 0 && u.ObservedLegs != nil && *u.ObservedLegs == 0
		})
	})

	t.Run("res_hep from real PJSIP calls: wire legs follow the calls", func(t *testing.T) {
		defer w.hangupAll(t)
		start := time.Now()
		d.waitUsage(t, "g729", "a live monitor's wire count", func(u productUse) bool { return u.ObservedLegs != nil && *u.ObservedLegs == 0 })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const n = 2
		for i := range n {
			// carol and dave speak only G.729: the answer's SDP says G.729, so
			// each call is one G.729 leg (one Call-ID; res_hep reports each
			// message as sent and as received, on the same Call-ID).
			if _, err := ast.Dial(ctx, "PJSIP/carol", "lbtest-echo"); err != nil {
				t.Fatalf("call %d: %v\nasterisk:\n%s", i+1, err, ast.Output(30))
			}
		}
		u := d.waitUsage(t, "g729", fmt.Sprintf("%d legs on the wire", n), func(u productUse) bool {
			return u.ObservedLegs != nil && *u.ObservedLegs == n
		})
		if u.InUse != 0 {
			t.Errorf("in use %d with %d unadmitted calls, want 0", u.InUse, n)
		}
		t.Logf("%d legs on the wire after %s: %+v", n, time.Since(start).Round(time.Millisecond), u)
		// The Prometheus gauge is refreshed from the same view on each scrape.
		if g, want := metricLine(t, d, `licbridge_legs_observed{product="g729"}`), fmt.Sprint(n); g != want {
			t.Errorf("licbridge_legs_observed{product=\"g729\"} = %q with %d calls up, want %s", g, n, want)
		}
		w.hangupAll(t)
		hung := time.Now()
		d.waitUsage(t, "g729", "no legs on the wire after the BYEs", func(u productUse) bool {
			return u.ObservedLegs != nil && *u.ObservedLegs == 0
		})
		t.Logf("wire count back to 0 %s after the hangups", time.Since(hung).Round(time.Millisecond))
		if strings.Contains(d.logs.String(), "hanging up") {
			t.Errorf("licbridge hung up a call:\n%s", grepLines(d.logs.String(), "hanging up"))
		}
	})
	t.Logf("wall time %s", time.Since(begin).Round(time.Millisecond))
}
