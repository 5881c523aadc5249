package main

import "github.com/urfave/cli/v2"

func showCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "show licenses and usage",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge show: not built yet", 2)
		},
	}
}
