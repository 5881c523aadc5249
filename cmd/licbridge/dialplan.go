package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/dialplan"
)

func dialplanCommand() *cli.Command {
	return &cli.Command{
		Name:  "dialplan",
		Usage: "print ready-to-include dialplan (a Gosub routine per product)",
		Description: `Prints extensions.conf text for Asterisk 22: one [licbridge-PRODUCT] Gosub
routine per product that admits the channel through FastAGI or the ARI
application and returns ADMITTED or REJECTED in GOSUB_RETVAL.

   licbridge dialplan > /etc/asterisk/extensions_licbridge.conf
   licbridge dialplan --product fax --via ari --on-failure closed`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "product", Usage: "product to print a routine for (repeatable; default g729, hpec, fax)", EnvVars: []string{"LICBRIDGE_DIALPLAN_PRODUCTS"}},
			&cli.StringFlag{Name: "via", Value: dialplan.ViaAGI, Usage: "how the dialplan asks licbridge: agi (FastAGI) or ari (Stasis)", EnvVars: []string{"LICBRIDGE_DIALPLAN_VIA"}},
			&cli.StringFlag{Name: "agi-addr", Usage: "FastAGI HOST:PORT as Asterisk dials it (default: the config's agi.listen, else " + dialplan.DefaultAddr + ")", EnvVars: []string{"LICBRIDGE_DIALPLAN_AGI_ADDR"}},
			&cli.StringFlag{Name: "ari-app", Usage: "Stasis application name (default: the config's ari.app, else " + dialplan.DefaultARIApp + ")", EnvVars: []string{"LICBRIDGE_ARI_APP"}},
			&cli.StringFlag{Name: "on-failure", Value: dialplan.FailOpen, Usage: "when licbridge gives no decision: open (let the call use the feature) or closed (refuse it)", EnvVars: []string{"LICBRIDGE_DIALPLAN_ON_FAILURE"}},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to this file instead of standard output"},
		},
		Action: runDialplan,
	}
}

func runDialplan(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	opts := dialplan.GenerateOptions{
		Products:  c.StringSlice("product"),
		Via:       c.String("via"),
		AGIAddr:   cfg.AGI.DialAddr(),
		ARIApp:    cfg.ARI.App,
		OnFailure: c.String("on-failure"),
	}
	overrideString(c, "agi-addr", &opts.AGIAddr)
	overrideString(c, "ari-app", &opts.ARIApp)
	// Print into memory first: a bad option must not leave half a file behind.
	var b bytes.Buffer
	if err := dialplan.Generate(&b, opts); err != nil {
		return cli.Exit(err.Error(), 2)
	}
	if path := c.String("output"); path != "" {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("dialplan: write %s: %w", path, err)
		}
		return nil
	}
	_, err = c.App.Writer.Write(b.Bytes())
	return err
}
