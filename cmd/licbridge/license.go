package main

import "github.com/urfave/cli/v2"

func licenseCommand() *cli.Command {
	return &cli.Command{
		Name:  "license",
		Usage: "license key tooling",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge license: not built yet", 2)
		},
	}
}
