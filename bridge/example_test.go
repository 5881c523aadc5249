package bridge_test

import (
	"context"
	"fmt"

	"github.com/licbridge/licbridge/bridge"
)

// A single node on the embedded store: two G.729 channels licensed, the third
// refused, and one freed by a hangup.
func Example() {
	ctx := context.Background()
	b, err := bridge.New(bridge.Options{Node: "pbx1"}) // no Store: the embedded one
	if err != nil {
		panic(err)
	}
	defer b.Close()
	if err := b.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "G729-1", Product: "g729", Channels: 2}}); err != nil {
		panic(err)
	}
	for _, ch := range []string{"1700000000.1", "1700000000.2", "1700000000.3"} {
		r := b.Admit(ctx, bridge.Request{Product: "g729", Channel: ch})
		if r.Admitted {
			fmt.Println(ch, "admitted as", r.Lease.ID)
		} else {
			fmt.Println(ch, "rejected:", r.Reason)
		}
	}
	b.Release(ctx, "1700000000.1")
	usage, _ := b.Usage(ctx)
	fmt.Printf("%s: %d of %d in use\n", usage[0].Product, usage[0].InUse, usage[0].Total)
	// Output:
	// 1700000000.1 admitted as g729:1700000000.1
	// 1700000000.2 admitted as g729:1700000000.2
	// 1700000000.3 rejected: OVER_LIMIT
	// g729: 1 of 2 in use
}

// Counting per call: the two legs of one bridged call hold one license.
func ExampleOptions_counting() {
	ctx := context.Background()
	b, _ := bridge.New(bridge.Options{Node: "pbx1", Counting: map[string]bridge.Counting{"fax": bridge.CountCall}})
	defer b.Close()
	b.PublishKeys(ctx, []bridge.KeyGrant{{KeyID: "FAX-1", Product: "fax", Channels: 1}})
	for _, leg := range []string{"1700000000.10", "1700000000.11"} {
		r := b.Admit(ctx, bridge.Request{Product: "fax", Channel: leg, Call: "1700000000.10"})
		fmt.Println(leg, r.Admitted)
	}
	fmt.Println(b.Admit(ctx, bridge.Request{Product: "fax", Channel: "1700000000.20", Call: "1700000000.20"}).Reason)
	// Output:
	// 1700000000.10 true
	// 1700000000.11 true
	// OVER_LIMIT
}
