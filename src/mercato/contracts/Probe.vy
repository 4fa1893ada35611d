# pragma version ~=0.4.3
"""
@title Probe: the smallest state-changing contract
@notice Not part of any protocol. `mercato bench chain` sends it transactions to measure what
        a chain backend itself costs per transaction, apart from the work of Mercato's
        protocol contracts.
"""

pokes: public(uint256)

event Poked:
    sender: indexed(address)
    pokes: uint256


@external
def poke():
    """
    @notice Count one more poke.
    """
    self.pokes += 1
    log Poked(sender=msg.sender, pokes=self.pokes)
