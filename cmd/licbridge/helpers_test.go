package main

import (
	"github.com/urfave/cli/v2"

	"github.com/licbridge/licbridge/config"
	licd "github.com/licbridge/licbridge/daemon"
	"github.com/licbridge/licbridge/internal/cliargs"
)

// reorderArgs is how main hands a command line to the app (internal/cliargs
// has the rewrite and its tests); the tests that run whole lines use it.
func reorderArgs(app *cli.App, args []string) []string { return cliargs.Reorder(app, args) }

// Names the tests use for the packages' own.
type Config = config.Config

const sipmonNodeSuffix = licd.MonitorNodeSuffix
