/** safetensors reading/writing and loading MoE layers with Hugging Face tensor names. */
export {};
