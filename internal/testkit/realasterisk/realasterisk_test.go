package realasterisk

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestInstance starts one real Asterisk and checks what the helpers promise: a
// Local call placed, its variables read, listed and hung up; a PJSIP call from
// the instance to itself over loopback; a restart on the same ports.
func TestInstance(t *testing.T) {
	a := Start(t, Options{Dialplan: `
[lbtest-call]
exten => s,1,Set(LBTEST=hello ${TAG})
 same => n,Answer()
 same => n,Wait(60)

[lbtest-pjsip]
exten => s,1,Dial(PJSIP/alice,5)
 same => n,Hangup()

[lbtest-from-alice]
exten => bob,1,Answer()
 same => n,Wait(60)
`})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if p := a.Problems(); len(p) > 0 {
		t.Errorf("warnings or errors at boot:\n%s", strings.Join(p, "\n"))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.ARIURL+"/ari/asterisk/info", nil)
	req.SetBasicAuth(LicbridgeUser, LicbridgeSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("ARI: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ARI /asterisk/info as %s: %s", LicbridgeUser, resp.Status)
	}

	c, err := a.Originate(ctx, "lbtest-call", "TAG=x1")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := a.Getvar(ctx, c.Half2, "LBTEST"); err != nil || v != "hello x1" {
		t.Fatalf("LBTEST on %s: %q, %v", c.Half2, v, err)
	}
	if c.Uniqueid == "" {
		t.Fatalf("no uniqueid for %s", c.Half2)
	}
	if err := a.Hangup(ctx, c.Half2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitChannels(ctx, func(cs []Channel) bool { return len(cs) == 0 }); err != nil {
		t.Fatal(err)
	}

	p, err := a.Originate(ctx, "lbtest-pjsip")
	if err != nil {
		t.Fatal(err)
	}
	chans, err := a.WaitChannels(ctx, func(cs []Channel) bool {
		n := 0
		for _, c := range cs {
			if strings.HasPrefix(c.Name, "PJSIP/alice-") && c.State == "Up" {
				n++
			}
		}
		return n == 2 // the outgoing leg and the one that came back in
	})
	if err != nil {
		t.Fatalf("PJSIP call over loopback: %v %+v\n%s", err, chans, a.Output(30))
	}
	if err := a.Hangup(ctx, p.Half2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WaitChannels(ctx, func(cs []Channel) bool { return len(cs) == 0 }); err != nil {
		t.Fatal(err)
	}

	a.Stop()
	a.Start()
	if _, err := a.Originate(ctx, "lbtest-call"); err != nil {
		t.Fatalf("after a restart on the same ports: %v", err)
	}
}
