package ami_test

import (
	"context"
	"fmt"
	"time"

	"github.com/licbridge/licbridge/ami"
	"github.com/licbridge/licbridge/internal/asterisksim/amisrv"
)

// A client that resynchronises on every (re)connect and follows hangups.
func Example() {
	srv, _ := amisrv.Listen(amisrv.Options{}) // an Asterisk double on 127.0.0.1
	defer srv.Close()
	srv.AddChannel(amisrv.Channel{Name: "PJSIP/201-00000001", State: 6, Uniqueid: "1795386281.0"})

	c := ami.New(ami.Options{
		Addr: srv.Addr(), Username: "licbridge", Secret: "licsecret",
		OnConnect: func(ctx context.Context, info ami.ConnectInfo) error {
			live, err := info.Client.CoreShowChannels(ctx)
			for _, ch := range live {
				fmt.Println("live:", ch.Channel, ch.ChannelStateDesc)
			}
			return err
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	<-c.Ready()

	_ = c.Setvar(ctx, "PJSIP/201-00000001", "LICBRIDGE_NOTE", "50% used: a=b; c")
	v, _ := c.Getvar(ctx, "PJSIP/201-00000001", "LICBRIDGE_NOTE")
	fmt.Println("note:", v)

	_ = srv.Hangup("1795386281.0", 16)
	for ev := range c.Events() {
		if h, ok := ev.(*ami.Hangup); ok {
			fmt.Println("hangup:", h.Uniqueid, h.Cause, h.CauseText)
			break
		}
	}
	// Output:
	// live: PJSIP/201-00000001 Up
	// note: 50% used: a=b; c
	// hangup: 1795386281.0 16 Normal Clearing
}
