"""The eager runtime: quantizer modules, their numerics, and the Quantizer workflow.

Modules, in import order: ``numerics`` (fake quantization for every spec format, on torchao),
``fake_quantizer`` (the module at a site), ``eager`` (placing and running quantizers),
``quantizer`` (``Quantizer``: prepare, calibrate, QAT), ``modelopt_cfg``
(``set_quantizer_by_cfg`` on a prepared model), ``summary``.
"""
