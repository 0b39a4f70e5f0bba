// Package version holds the provider version, set at build time with
// -ldflags "-X fleet.local/engine/pulumi-resource-proxmoxve/version.Version=<version>".
package version

var Version string
