"""The dynamics service: hosts one world model behind worldflux.v1.DynamicsService."""
