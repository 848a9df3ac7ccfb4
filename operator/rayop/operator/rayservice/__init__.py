"""The RayService controller (``ray.io/v1`` RayService): Serve applications on blue/green RayClusters."""
