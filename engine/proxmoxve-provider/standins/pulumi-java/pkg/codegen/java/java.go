// Package java stands in for the Java code generator that the Go module proxy here refuses to serve
// at the version the bridge requires (see engine/proxmoxve-provider/standins/README.md). It has only
// what the Terraform bridge's schema generator uses.
package java

import (
	"errors"

	"github.com/hashicorp/hcl/v2"
	"github.com/pulumi/pulumi/pkg/v3/codegen/pcl"
)

// GenerateProgram refuses: examples are not translated into Java in this build.
func GenerateProgram(*pcl.Program) (map[string][]byte, hcl.Diagnostics, error) {
	return nil, nil, errors.New("Java program generation is not part of this build (see engine/proxmoxve-provider/standins)")
}
