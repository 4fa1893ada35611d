# pragma version ~=0.4.3
"""
@title Role bits of the participant registry
@notice Constants only: a participant registers a bitmask of these roles (one address may
        hold several). Every contract imports them from here; the Python side mirrors them
        in mercato.protocols.roles.Role.
"""

DATA_OWNER: constant(uint256) = 1
MODEL_OWNER: constant(uint256) = 2
COMPUTE_PROVIDER: constant(uint256) = 4
CLIENT: constant(uint256) = 8
ARBITER: constant(uint256) = 16
ALL: constant(uint256) = 31
