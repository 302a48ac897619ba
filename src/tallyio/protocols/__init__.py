"""Protocol families: exact on-chain math, ABI fragments and state loading, one module each."""
