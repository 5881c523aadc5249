package main

import "github.com/urfave/cli/v2"

func sipmonCommand() *cli.Command {
	return &cli.Command{
		Name:  "sipmon",
		Usage: "SIP side monitor",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge sipmon: not built yet", 2)
		},
	}
}
