// Package config is licbridge's one configuration: the YAML file's shape
// (Config), its defaults (Default, the only place they are written), the
// merge of command-line flags and LICBRIDGE_* variables over it (Merge, the
// same for every command) and Validate, which turns the strings into the
// typed settings the daemon is built from. Neighbours: cmd/licbridge reads a
// file and flags into it; daemon builds a node from its Settings.
package config
