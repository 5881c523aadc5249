package main

import "github.com/urfave/cli/v2"

func dialplanCommand() *cli.Command {
	return &cli.Command{
		Name:  "dialplan",
		Usage: "print ready-to-include dialplan",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge dialplan: not built yet", 2)
		},
	}
}
