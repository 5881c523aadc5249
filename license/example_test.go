package license_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"time"

	"github.com/licbridge/licbridge/license"
)

// Two g729 keys stack; a hand-edited one is invalid; two ffa keys give one channel.
func ExampleEvaluate() {
	issuer := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	host := license.HostID("A1B2-C3D4-E5F6")
	mint := func(file, id, product string, channels int) license.Candidate {
		k := &license.Key{
			ID: id, Product: product, Channels: channels,
			Binding: license.Binding{Type: license.BoundHost, HostID: host},
			Issued:  now.AddDate(0, -1, 0), Ends: now.AddDate(1, 0, 0), Kind: license.KindCommercial,
		}
		license.Sign(k, issuer)
		// Through the file form, as a node reads it.
		var b bytes.Buffer
		if _, err := k.WriteTo(&b); err != nil {
			panic(err)
		}
		text := b.String()
		if file == "edited.lic" {
			text = strings.Replace(text, "Channels: 5", "Channels: 50", 1)
		}
		k, err := license.Parse(strings.NewReader(text), file)
		return license.Candidate{File: file, Key: k, Err: err}
	}
	set := license.Evaluate([]license.Candidate{
		mint("a.lic", "G729-A", "g729", 10),
		mint("b.lic", "G729-B", "g729", 5),
		mint("edited.lic", "G729-C", "g729", 5),
		mint("f1.lic", "FFA-1", "ffa", 1),
		mint("f2.lic", "FFA-2", "ffa", 1),
	}, license.EvalOptions{
		Trusted: license.NewTrusted(issuer.Public().(ed25519.PublicKey)),
		HostID:  host,
		Now:     now,
	})
	for _, p := range set.Products() {
		fmt.Printf("%s: %d channels\n", p, set.Total(p))
		for _, e := range set.KeysFor(p) {
			fmt.Println(strings.TrimSpace(fmt.Sprintf("  %s %d %s %s", e.KeyID, e.Channels, e.Status, e.Reason)))
		}
	}
	// Output:
	// ffa: 1 channels
	// FFA-1 1 valid
	// FFA-2 1 ignored only one ffa key is used per host: FFA-1 is in use (first by key ID)
	// g729: 15 channels
	// G729-A 10 valid
	// G729-B 5 valid
	// G729-C 50 invalid bad signature
}
