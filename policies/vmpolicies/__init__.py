"""vmfleet governance policies: each module defines one policy; `registry` lists them all."""
