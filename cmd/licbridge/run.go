package main

import "github.com/urfave/cli/v2"

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the licbridge daemon beside an Asterisk node",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge run: not built yet", 2)
		},
	}
}
