package main

import (
	"fmt"

	"github.com/licbridge/licbridge/config"

	"github.com/urfave/cli/v2"
)

// runSIPMonFlagsCheck refuses a --sipmon-interval flag that cannot work; the
// daemon builds the embedded SIP side monitor from the merged config (a zero
// sipmon.interval in the file means the default, a zero flag is an error).
// Without an input (no monitor) the interval is not read.
func runSIPMonFlagsCheck(c *cli.Context, sc config.SIPMonConfig) error {
	if (sc.Interface != "" || sc.HEPListen != "") && c.IsSet("sipmon-interval") && c.Duration("sipmon-interval") <= 0 {
		return fmt.Errorf("--sipmon-interval %v: must be positive", c.Duration("sipmon-interval"))
	}
	return nil
}
