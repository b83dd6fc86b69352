"""Writes the BLIP fixture: a tiny random BLIP captioner made with the `transformers` package
(the oracle for earsight-tools' name mapping), saved as Hugging Face saves BLIP-base
(config.json + model.safetensors), with reference outputs for given inputs.

    python3 tools/tests/oracle/blip.py tools/tests/fixtures/blip-tiny

Needs torch and transformers; the test that reads the fixture needs neither. Every parameter,
layer norms included, is perturbed away from its initial value so that a mapping that swapped
two tensors of the same shape could not pass.
"""
import json
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import BlipConfig, BlipForConditionalGeneration

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
config = BlipConfig(
    vision_config=dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8, layer_norm_eps=1e-5,
    ),
    text_config=dict(
        vocab_size=99, hidden_size=32, encoder_hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=24,
        layer_norm_eps=1e-12, bos_token_id=97, pad_token_id=0, sep_token_id=98,
    ),
)
model = BlipForConditionalGeneration(config).eval()
with torch.no_grad():
    for p in model.parameters():
        p.add_(0.05 * torch.randn_like(p))
model.save_pretrained(out, safe_serialization=True)

pixels = torch.randn(2, 3, 32, 32)
ids = torch.tensor([[97, 5, 17, 42, 8, 61], [97, 33, 2, 90, 12, 7]])
with torch.no_grad():
    image_embeds = model.vision_model(pixel_values=pixels).last_hidden_state
    logits = model.text_decoder(input_ids=ids, encoder_hidden_states=image_embeds).logits
save_file(
    {
        # NHWC, as earsight's image encoders take pictures.
        "pixels": pixels.permute(0, 2, 3, 1).contiguous(),
        "input_ids": ids.to(torch.int64),
        "image_embeds": image_embeds.contiguous(),
        "logits": logits.contiguous(),
    },
    str(out / "reference.safetensors"),
)
(out / "PROVENANCE.md").write_text(
    "Random tiny BLIP (not a trained model), written by tools/tests/oracle/blip.py with "
    f"torch {torch.__version__} and transformers {transformers.__version__}.\n"
)
print(json.dumps({k: list(v.shape) for k, v in model.state_dict().items()}, indent=0))
