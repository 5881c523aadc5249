package dialplan_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/licbridge/licbridge/admission"
	"github.com/licbridge/licbridge/dialplan"
	"github.com/licbridge/licbridge/dialplan/agi"
)

func ExampleParseRequest() {
	// What Asterisk sends for AGI(agi://127.0.0.1:4573/admit,g729).
	req, err := dialplan.ParseRequest(agi.Env{
		{Key: "agi_network_script", Value: "admit"},
		{Key: "agi_uniqueid", Value: "1795386360.29"},
		{Key: "agi_callerid", Value: "unknown"},
		{Key: "agi_extension", Value: "s"},
		{Key: "agi_arg_1", Value: "g729"},
	})
	fmt.Printf("%+v %v\n", req, err)
	// Output: {Verb:admit Product:g729 Channel:1795386360.29 Call: Caller: Called:s} <nil>
}

// ExampleNewServer shows the wiring: the admission core implements admission.Admitter.
// (Not run: it would listen on 127.0.0.1:4573.)
func ExampleNewServer() {
	var core admission.Admitter // the bridge's adapter; must not be nil
	srv, err := dialplan.NewServer(core, dialplan.Config{
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = srv.Run(context.Background()) }()
	<-srv.Ready()
	fmt.Println("FastAGI on", srv.Addr())
}
