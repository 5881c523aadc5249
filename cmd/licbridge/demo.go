package main

import "github.com/urfave/cli/v2"

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run a self-contained demo",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge demo: not built yet", 2)
		},
	}
}
