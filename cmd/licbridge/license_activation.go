package main

import "github.com/urfave/cli/v2"

// activationCommands are the `license` subcommands that talk to the activation
// database in the shared store (register, deactivate, activations).
func activationCommands() []*cli.Command {
	return nil
}
