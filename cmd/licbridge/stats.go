package main

import "github.com/urfave/cli/v2"

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "concurrency statistics",
		Action: func(*cli.Context) error {
			return cli.Exit("licbridge stats: not built yet", 2)
		},
	}
}
