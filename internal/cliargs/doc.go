// Package cliargs rewrites a command line into the shape urfave/cli v2 parses,
// so that flags can be written anywhere on it. It knows nothing of licbridge:
// the walk reads the app's own flag and command definitions.
//
// Neighbours: cmd/licbridge calls it before urfave/cli parses; it imports
// nothing of licbridge's.
package cliargs
