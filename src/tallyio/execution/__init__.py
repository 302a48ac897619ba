"""Execution: build -> fees -> nonce -> sign -> send.

plan.py (opportunity -> calldata), fees.py (base fee, fee policy, bumps), nonce.py (nonce
manager: reserve, replace, cancel, gaps), keystore.py (encrypted key files), signer.py (fast
signing), keystore_cli.py (`tallyio keystore ...`). Import from the modules themselves: this
package imports nothing, so loading one part never pulls in the others.
"""
